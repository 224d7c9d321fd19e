"""The kinds a file may be handed in as (a module of its own: the command line names them
in its options without loading the pipeline)."""

KINDS = ("protocol", "violation", "act", "video", "other")
