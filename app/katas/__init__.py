"""Katas: a learner's files kept between runs in a named volume on one node (`volumes`) and
their bookkeeping in Redis: node, last use, the files last sent (`records`)."""
