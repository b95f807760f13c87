"""Images and pulls: the operator's allowlist (`allowlist`), language tracks (`tracks`), the
images a node holds (`node_images`), pulling one with progress (`puller`), one pull per image and
node at a time (`node_pulls`) and the records clients read (`pull_records`)."""
