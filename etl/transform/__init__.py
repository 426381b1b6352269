"""Pure transforms: Polars in, Polars out. No I/O, no clock (as_of is an argument).

Each public function is named after the store table it produces.
"""
