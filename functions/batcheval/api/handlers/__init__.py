"""One Lambda entry point per operation, all in this one code asset.

Each module exposes `lambda_handler(event, context)` for an API Gateway REST proxy event and
serves exactly its operation's method and path.
"""
