"""Workers: the leased job queue, the job runner and the Ray tasks that drive ``pipeline``."""
