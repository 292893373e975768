"""User data through `genopt train`: a run on each format, and each bad-data error with exit
status 2 and no traceback."""

import numpy as np
import pytest

from tests.data.test_user_data import make_image_folder, make_mnist, write_idx
from tests.helpers import TINY, read_summary, run_genopt

FAST = ["trainer.max_steps=4", "trainer.log_every=2", "trainer.num_samples=4"]


def test_mnist_trains_from_relative_path(tmp_path):
    make_mnist(tmp_path / "data" / "mnist", train=64, test=16, size=8, gz=True)
    run_dir = tmp_path / "run"
    result = run_genopt(
        "train",
        "model=vae",
        *TINY["vae"],
        *FAST,
        "data=mnist",
        "data.path=data/mnist",
        "data.batch_size=16",
        "trainer.eval_samples=null",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "finished"
    assert "eval/classifier_fd" not in summary["metrics"]


def test_image_folder_trains_gan_in_rgb(tmp_path):
    make_image_folder(tmp_path / "pets", per_class=12, mode="RGB")
    run_dir = tmp_path / "run"
    result = run_genopt(
        "train",
        "model=gan",
        *TINY["gan"],
        *FAST,
        "data=image_folder",
        "data.path=pets",
        "data.image_size=8",
        "data.batch_size=8",
        "trainer.eval_samples=null",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "read 24 images of 2 classes" in result.stderr
    assert read_summary(run_dir)["status"] == "finished"


def bad_idx(folder):
    make_mnist(folder / "mnist")
    path = folder / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    return ["data=mnist", "data.path=mnist"]


def bad_image(folder):
    make_image_folder(folder / "pets", per_class=4)
    (folder / "pets" / "dog" / "bad.jpg").write_bytes(b"not a jpeg")
    return ["data=image_folder", "data.path=pets", "data.batch_size=4"]


def empty_folder(folder):
    (folder / "empty").mkdir()
    return ["data=image_folder", "data.path=empty"]


def latin_text(folder):
    (folder / "latin.txt").write_bytes(b"plain start " + "na\xefve".encode("latin-1"))
    return ["model=transformer", "data=text_file", "data.path=latin.txt"]


def small_mnist(folder):
    make_mnist(folder / "mnist", train=20, test=4)
    return ["data=mnist", "data.path=mnist", "data.batch_size=32"]


def unlabelled_folder_of_text(folder):
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("no images here")
    write_idx(folder / "notes" / "b.idx", np.zeros((2, 2)))
    return ["data=image_folder", "data.path=notes"]


CASES = {
    "missing path": (lambda folder: ["data=mnist", "data.path=nowhere"], ["data.path=nowhere"]),
    "no path": (lambda folder: ["data=image_folder"], ["data=image_folder needs data.path=DIR"]),
    "empty folder": (empty_folder, ["contains no image files", "empty"]),
    "no images": (unlabelled_folder_of_text, ["contains no image files", "notes"]),
    "bad image": (bad_image, ["bad.jpg is not a readable image", "data.skip_bad_files=true"]),
    "not utf-8": (latin_text, ["latin.txt is not UTF-8 text", "byte offset 14"]),
    "idx size": (bad_idx, ["train-images-idx3-ubyte", "IDX header gives shape (64, 8, 8)"]),
    "too small": (small_mnist, ["data.batch_size=32 is larger than the 20 training images"]),
    "odd size": (
        lambda folder: [
            "model=gan",
            "data=image_folder",
            f"data.path={folder}",
            "data.image_size=15",
        ],
        ["data.image_size=15 must be a multiple of 2"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_data_message(case, tmp_path):
    make, expected = CASES[case]
    overrides = make(tmp_path)
    models = [o.removeprefix("model=") for o in overrides if o.startswith("model=")]
    model = models[0] if models else "vae"
    data = [o for o in overrides if not o.startswith("model=")]
    overrides = [f"model={model}", *TINY[model], *data]
    result = run_genopt("train", *overrides, *FAST, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    for words in expected:
        assert words in result.stderr, (words, result.stderr[-3000:])
