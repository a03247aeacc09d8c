"""The summary table every benchmark script ends with: one row a figure, with its floor and verdict."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    unit: str
    floor: str = ""
    passed: bool | None = None  # None: information only

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "BELOW FLOOR"


def summary(figures: list[Figure], *, label_width: int = 64, unit_width: int = 8, decimals: int = 2) -> None:
    print()
    print("SUMMARY")
    print(f"{'figure':<{label_width}} {'value':>12} {'unit':<{unit_width}} {'floor':<10} result")
    for figure in figures:
        places = decimals if abs(figure.value) < 100 else decimals - 2 if decimals > 2 else 0
        value = f"{figure.value:,.{places}f}"
        print(
            f"{figure.label:<{label_width}} {value:>12} {figure.unit:<{unit_width}} {figure.floor:<10} {figure.verdict}"
        )
