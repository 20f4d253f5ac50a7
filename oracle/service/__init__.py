"""The service: the daemon loop, the metrics and health server, structured logs. The ground-floor parts it
shares with beacon/ and execution/ (metrics, the journal, fault points) live below them, in oracle/."""
