"""core.bounded.BoundedDict keeps at most its limit, dropping the oldest items first."""

from core.bounded import BoundedDict


def test_past_its_limit_the_oldest_items_go_first():
    memo: BoundedDict[str, int] = BoundedDict(3)

    memo.put_all([("a", 1), ("b", 2)])
    memo.put_all([("c", 3), ("d", 4), ("e", 5)])

    assert memo == {"c": 3, "d": 4, "e": 5}
    assert (memo.get("a"), memo.get("e")) == (None, 5)


def test_forget_empties_it_and_the_limit_stays():
    memo: BoundedDict[int, int] = BoundedDict(2)
    memo.put_all([(1, 1), (2, 2)])

    memo.forget()
    memo.put_all([(3, 3), (4, 4), (5, 5)])

    assert memo == {4: 4, 5: 5}
