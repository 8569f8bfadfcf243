/* orders.h - what fcgi/orders.c (the order resource) and fcgi/order_fulfil.c (fulfilment and
 * production) share. docs/orders.md. */
#ifndef APF_ORDERS_H
#define APF_ORDERS_H

#include "resources.h"

/* Lines of one POST /orders at most. */
#define ORDER_ITEMS_MAX 200

/* pending, processing, printed, assembled, shipped, fulfilled, cancelled, refunded (NULL last). */
extern const char *const order_statuses[];

/* Records a problem for a customer_email that is not an address and a tracking_url that is not
 * http(s). */
void orders_check_contacts(struct req *r);

#endif
