-- Airflow's `include_deferred` on pools: whether deferred task instances count against
-- the pool's slots. Weir has no deferred state, so it only changes what the API shows;
-- it is kept so that a pool written through the API reads back as it was written.
ALTER TABLE pool ADD COLUMN include_deferred INTEGER NOT NULL DEFAULT 0;
