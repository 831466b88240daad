"""The expression language: tokens, syntax tree, parser, function table and lowering to the IR."""
