"""Colouring: a finished run's traffic light from its image's rag lambda (`traffic_light`),
the lambdas read once per image digest (`rag_cache`, `rag_lambda`) and the hardened evaluator
containers they run in (`evaluator`)."""
