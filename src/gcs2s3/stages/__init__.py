"""Derived stages that consume what a run delivered (never a listing of a target): WordPress sizing."""
