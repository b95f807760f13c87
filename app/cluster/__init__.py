"""The cluster's bookkeeping: which workers are alive (`workers`, `heartbeat`), counters
(`metrics`), work done once per period (`periodic`), and cleaning up after the dead and the
unused (`reaper`, `pruner`)."""
