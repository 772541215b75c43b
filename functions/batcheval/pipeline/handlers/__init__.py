"""One module per state machine step; each binds `lambda_handler` to a step of `runs`."""
