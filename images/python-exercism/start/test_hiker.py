from hiker import answer


def test_life_the_universe_and_everything():
    assert answer() == 42
