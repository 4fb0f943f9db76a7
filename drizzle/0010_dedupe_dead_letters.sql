-- dead_letters becomes one row per (event, handler). Rows written before then have no handler and may
-- repeat an event (the dead-letter queue delivers at least once): keep the newest row of each event so
-- the unique key added next can be created.
DELETE FROM dead_letters a
  USING dead_letters b
  WHERE a.event_id = b.event_id
    AND (a.created_at, a.id) < (b.created_at, b.id);
