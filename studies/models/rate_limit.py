"""Request counts per key and minute, for the participant API's rate limits."""

from django.db import models


class RateCounter(models.Model):
    """How many requests one key (a scope and a client address or participant) made in the
    minute starting at `window_start`. Kept in the database, not a cache: limits then hold
    across every web process, and the participant path needs no service but the database."""

    key = models.CharField(max_length=120)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="one_counter_per_window")]
        indexes = [models.Index(fields=["window_start"], name="ratecounter_window")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%H:%M}: {self.count}"
