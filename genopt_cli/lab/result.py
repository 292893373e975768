"""The result record of a theorem check."""

from dataclasses import dataclass

# Relative slack for bounds that hold with equality on quadratics, for float64 rounding.
ROUNDING = 1e-9


@dataclass
class CheckResult:
    """One row of `genopt lab check`: the measured value against the theorem's bound."""

    name: str
    claim: str
    measured: float
    bound: float
    passed: bool
    detail: str = ""
    # How measured must compare with bound: "<=", ">=" or "=" (equal up to rounding).
    relation: str = "<="
