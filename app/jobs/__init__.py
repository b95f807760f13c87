"""Jobs and routing: greenbar's record of every run and colour (`records`), the one admission
rule (`admission`, `queue_depth`), where a run goes (`routing`) and carrying a recorded job out on
a worker (`executors`)."""
