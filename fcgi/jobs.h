/* jobs.h - what the job files share (fcgi/jobs.c, fcgi/job_actions.c). */
#ifndef APF_JOBS_H
#define APF_JOBS_H

#include "req.h"
#include "states.h"

/* The rule's refusal for a job in the wrong state (INVALID_TRANSITION / JOB_TERMINAL). */
enum api_err job_refuse(struct req *r, const struct job_rule *rule, const char *status);

#endif
