/* resources.h - the resource records of fcgi/ (resource.h): named by fcgi/routes.def, nested
 * or shared by other files. */
#ifndef APF_RESOURCES_H
#define APF_RESOURCES_H

#include "resource.h"

extern const struct resource hub_res;             /* fcgi/hubs.c */
extern const struct resource hub_connection_res;
extern const struct resource hub_discovery_res;
extern const struct resource printer_res;         /* fcgi/printers.c; RF_BRIEF: hub summary */
extern const struct resource printer_status_res;
extern const struct resource job_res;             /* fcgi/jobs.c */
extern const struct resource job_history_res;
extern const struct resource file_res;            /* fcgi/files.c */

#endif
