"""Where a run goes: to the node holding its kata's volume while that node is live, else to
whichever worker takes it first (which then holds a fresh volume for the kata)."""

from collections.abc import Collection

from app.katas import KataStore


def node_for_run(kata: str | None, katas: KataStore, live_nodes: Collection[str]) -> str | None:
    """The node a run must go to, or None when any node will do."""
    if kata is None:
        return None
    node = katas.node_of(kata)
    return node if node in live_nodes else None
