"""One module per agent node: read the state, call tools and the core, return a partial update."""
