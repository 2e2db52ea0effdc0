-- The host's top processes when an incident opened (JSON array of
-- {pid, name, user, cpu_utilization, memory_bytes}).
ALTER TABLE events ADD COLUMN top_processes TEXT NOT NULL DEFAULT '[]';
