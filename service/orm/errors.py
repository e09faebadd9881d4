"""What the fast path refuses: a read it cannot compile, a schema field it cannot fill."""


class CompileError(TypeError):
    """A builder whose SQL depends on the values of its bound parameters, or that the layer cannot compile."""


class UnsupportedFieldError(TypeError):
    """A response schema field that ``from_orm`` does not know how to read from a model instance."""
