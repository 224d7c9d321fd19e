"""The kinds a file may be handed in as: protocol, violation, act, video, other (light: the
command line's options name them before any command runs)."""

from pipeline.kinds import KINDS

__all__ = ["KINDS"]
