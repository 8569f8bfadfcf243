-- 0019: analytics reads every figure from the source tables (docs/analytics.md), through
-- covering indexes whose leading columns are the account and the window column, so a request
-- reads the index entries of its date range and nothing else (no rollup to keep in step).

-- Jobs that finished (completed or failed) by the UTC day of COALESCE(time_completed, updated_at):
-- production and the overview's "today" read the window's time_completed range and, for jobs
-- without one, the updated_at range under time_completed IS NULL, both from one index (and per
-- printer / product for the filters).
ALTER TABLE print_jobs
  ADD KEY ix_jobs_an_completed (account_id, time_completed, updated_at, status, number_of_units, actual_print_time_minutes),
  ADD KEY ix_jobs_an_printer_completed (account_id, printer_id, time_completed, updated_at, status, number_of_units, actual_print_time_minutes),
  ADD KEY ix_jobs_an_product_completed (account_id, product_id, time_completed, updated_at, status, number_of_units, actual_print_time_minutes),
  ADD KEY ix_jobs_an_submitted (account_id, time_submitted, printer_id, status, actual_print_time_minutes);

-- revenue and production: orders of a date range, their status, platform and total
ALTER TABLE orders
  ADD KEY ix_orders_an_date (account_id, order_date, status, platform, total_revenue);

-- failures: counts by type, printer and day, resolved or not
ALTER TABLE printer_failures
  ADD KEY ix_failures_an_created (account_id, created_at, failure_type, printer_id, resolved_at);

-- inventory: usage totals by material type and day
ALTER TABLE material_usage_history
  ADD KEY ix_usage_an_date (account_id, usage_date, material_type, usage_amount);
