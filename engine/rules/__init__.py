"""The rule files under rules/: the expression language and its type checker, the field dictionary, dated
parameters, measures, jurisdictions and budget kinds, loaded and checked into one RuleSet."""
