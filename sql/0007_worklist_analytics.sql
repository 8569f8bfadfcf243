-- 0007: operator worklist (tasks + per-type default assignees), material usage history
-- (analytics source, written by consume / kit completion / job completion) and the optional
-- daily_analytics rollup (nothing is required to write it; the API computes from base tables).

CREATE TABLE worklist_tasks (
  id                     CHAR(36)     NOT NULL PRIMARY KEY,
  account_id             CHAR(36)     NOT NULL,
  assembly_task_id       CHAR(36)     NULL,                 -- never exposed
  printer_id             CHAR(36)     NULL,
  assigned_to            CHAR(36)     NULL,                 -- never exposed
  title                  VARCHAR(200) NOT NULL,
  subtitle               VARCHAR(200) NULL,
  description            TEXT         NULL,                 -- <= 2000 via API
  task_type              ENUM('assembly','filament_change','collection','maintenance','quality_check') NOT NULL,
  priority               ENUM('low','medium','high') NOT NULL DEFAULT 'medium',  -- ORDER BY priority DESC = high first
  status                 ENUM('pending','in_progress','completed','cancelled') NOT NULL DEFAULT 'pending',
  estimated_time_minutes INT UNSIGNED NULL,
  actual_time_minutes    INT UNSIGNED NULL,
  started_at             DATETIME(3)  NULL,
  completed_at           DATETIME(3)  NULL,
  due_date               DATETIME(3)  NULL,                 -- UTC; midnight of the day when due_date_only = 1
  due_date_only          TINYINT(1)   NOT NULL DEFAULT 0,   -- 1 = client sent YYYY-MM-DD (overdue once that UTC day has passed)
  metadata               JSON         NULL,                 -- never exposed
  created_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_worklist_account_priority (account_id, priority, created_at, id),         -- list: priority desc, created_at desc
  KEY ix_worklist_account_status (account_id, status, priority, created_at),
  KEY ix_worklist_account_type (account_id, task_type, status, priority, created_at),
  KEY ix_worklist_account_due (account_id, status, due_date),                       -- overdue count
  KEY ix_worklist_assembly (assembly_task_id),
  KEY ix_worklist_printer (printer_id, status),
  KEY ix_worklist_assigned (assigned_to, status),
  CONSTRAINT fk_worklist_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_worklist_assembly FOREIGN KEY (assembly_task_id) REFERENCES assembly_tasks(id) ON DELETE SET NULL,
  CONSTRAINT fk_worklist_printer FOREIGN KEY (printer_id) REFERENCES printers(id) ON DELETE SET NULL,
  CONSTRAINT fk_worklist_assigned FOREIGN KEY (assigned_to) REFERENCES users(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Default assignee per task type (dashboard-managed; no public endpoint). The user must still be
-- an active member of the account when a task is created, else the task stays unassigned.
CREATE TABLE task_assignment_defaults (
  id         CHAR(36)    NOT NULL PRIMARY KEY,
  account_id CHAR(36)    NOT NULL,
  task_type  ENUM('assembly','filament_change','collection','maintenance','quality_check') NOT NULL,
  user_id    CHAR(36)    NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_task_defaults_type (account_id, task_type),
  KEY ix_task_defaults_user (user_id),
  CONSTRAINT fk_task_defaults_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_task_defaults_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- material_id points into the materials table chosen by material_type (no foreign key):
-- filament -> filament_inventory, packaging -> packaging_inventory,
-- accessory -> accessories_inventory, part -> printer_parts_inventory.
CREATE TABLE material_usage_history (
  id               CHAR(36)      NOT NULL PRIMARY KEY,
  account_id       CHAR(36)      NOT NULL,
  material_type    ENUM('filament','packaging','accessory','part') NOT NULL,
  material_id      CHAR(36)      NOT NULL,
  print_job_id     CHAR(36)      NULL,
  assembly_task_id CHAR(36)      NULL,                      -- kit completion consuming bundle extras
  usage_amount     DECIMAL(12,3) NOT NULL,                  -- grams (filament) or units
  usage_date       DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),   -- analytics window / bucket
  reason           VARCHAR(64)   NULL,                      -- manual_adjustment, damaged, other, assembly_completion, print_completion
  notes            VARCHAR(500)  NULL,
  created_at       DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_usage_account_date (account_id, usage_date),
  KEY ix_usage_account_material (account_id, material_type, material_id, usage_date),
  KEY ix_usage_job (print_job_id),
  KEY ix_usage_assembly (assembly_task_id),
  CONSTRAINT fk_usage_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_usage_job FOREIGN KEY (print_job_id) REFERENCES print_jobs(id) ON DELETE SET NULL,
  CONSTRAINT fk_usage_assembly FOREIGN KEY (assembly_task_id) REFERENCES assembly_tasks(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Optional per-day rollup (exists in the earlier impl; nothing must depend on it).
-- profit and every *_cost column are never exposed.
CREATE TABLE daily_analytics (
  id                          CHAR(36)     NOT NULL PRIMARY KEY,
  account_id                  CHAR(36)     NOT NULL,
  date                        DATE         NOT NULL,         -- UTC calendar day
  revenue                     BIGINT       NOT NULL DEFAULT 0,  -- cents
  profit                      BIGINT       NOT NULL DEFAULT 0,  -- cents; never exposed
  print_completion_percentage DECIMAL(5,1) NOT NULL DEFAULT 0,
  jobs_completed              INT UNSIGNED NOT NULL DEFAULT 0,
  jobs_failed                 INT UNSIGNED NOT NULL DEFAULT 0,
  units_produced              INT UNSIGNED NOT NULL DEFAULT 0,
  active_printers             INT UNSIGNED NOT NULL DEFAULT 0,
  total_printers              INT UNSIGNED NOT NULL DEFAULT 0,
  utilization_percentage      DECIMAL(5,1) NOT NULL DEFAULT 0,
  average_job_time_minutes    INT UNSIGNED NOT NULL DEFAULT 0,
  total_print_time_minutes    INT UNSIGNED NOT NULL DEFAULT 0,
  time_saved_minutes          INT UNSIGNED NOT NULL DEFAULT 0,
  materials_cost              BIGINT       NOT NULL DEFAULT 0,  -- cents; never exposed
  labor_cost                  BIGINT       NOT NULL DEFAULT 0,  -- cents; never exposed
  overhead_cost               BIGINT       NOT NULL DEFAULT 0,  -- cents; never exposed
  created_at                  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at                  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_daily_analytics_day (account_id, date),
  CONSTRAINT fk_daily_analytics_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
