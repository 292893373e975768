"""Sample-quality metrics of the model families."""

from genopt_cli.metrics.image_quality import ImageQuality

__all__ = ["ImageQuality"]
