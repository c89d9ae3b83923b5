"""gemsdash: Dramatiq job processing with a terminal dashboard.

`define_job_type` and `Payload` are what a job-type module needs (README, "Add a job type").
"""

from gemsdash.queue.payloads import Payload
from gemsdash.queue.registry import define_job_type

__version__ = "0.1.0"

__all__ = ["Payload", "__version__", "define_job_type"]
