/* resources.h - the resource records one file nests or shares with another (resource.h). */
#ifndef APF_RESOURCES_H
#define APF_RESOURCES_H

#include "resource.h"

extern const struct resource printer_res;      /* fcgi/printers.c; RF_BRIEF: hub summary */
extern const struct resource hub_res;          /* fcgi/hubs.c */
extern const struct resource job_res;          /* fcgi/jobs.c */
extern const struct resource file_res;         /* fcgi/files.c */
extern const struct resource product_res;      /* fcgi/products.c */
extern const struct resource sku_res;          /* fcgi/skus.c; RF_BRIEF: inside a product */

#endif
