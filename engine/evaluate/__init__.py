"""The three-valued kernel and the evaluator that runs every measure of a RuleSet over a table of firms."""
