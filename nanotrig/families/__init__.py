"""The built-in model families, each one declared :class:`~nanotrig.family.Family`.

They register through the ``nanotrig.families`` entry points in pyproject.toml (a package of
your own can declare families the same way), or in code with
:func:`nanotrig.family.register_family`. Importing this package is cheap: stage code loads only
when a stage runs.
"""
