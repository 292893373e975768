"""The error type for problems in what the user gave: config values, files, checkpoints."""


class GenoptError(Exception):
    """A user-facing error. The CLI prints its message without a traceback and exits with 2.

    Each message names the key or file, the bad value, what is valid and what to do.
    """

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def render(self) -> str:
        if len(self.problems) == 1:
            return f"error: {self.problems[0]}"
        lines = [f"error: {len(self.problems)} problems in the config:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)
