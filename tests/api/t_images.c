/* t_images.c - the product gallery: GET/POST /products/{id}/images, GET/DELETE
 * /products/{id}/images/{imageId}, PUT /products/{id}/images/order. Bytes round-trip with the
 * type sniffed from them (the client's declared type ignored), the 24 h private cache header,
 * sort order and the product's image_url following the gallery, every error code (wrong type,
 * too large, no part, not multipart, cap reached, storage quota, invalid order, unknown
 * product / image), refusals storing nothing, delete removing the object, scopes, and another
 * account's ids as 404. */
#include "apitest.h"

#include "cfg.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define IMAGE_MAX (5 * 1024 * 1024)
/* PUT .../images/order bodies of 2, 3 and 4 ids */
#define ORDER2 "{\"order\": [\"%s\", \"%s\"]}"
#define ORDER3 "{\"order\": [\"%s\", \"%s\", \"%s\"]}"
#define ORDER4 "{\"order\": [\"%s\", \"%s\", \"%s\", \"%s\"]}"

static const char *const IMAGE_KEYS[] = { "id", "sort_order", "url", NULL };

static const unsigned char PNG[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
				     'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0 };
static const unsigned char GIF[] = { 'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0,
				     0, 0, 0xff, 0xff, 0xff, ';' };
static const unsigned char JPEG[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1,
				      1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9 };
static const unsigned char WEBP[] = { 'R', 'I', 'F', 'F', 26, 0, 0, 0, 'W', 'E', 'B', 'P',
				      'V', 'P', '8', 'L', 14, 0, 0, 0, 0x2f, 0, 0, 0, 0, 0 };

static const struct db_query Q_IMAGE_ROW = {
	"INSERT INTO product_images (id, account_id, product_id, storage_key, content_type,"
	" size_bytes, sort_order) VALUES (UUID(), ?, ?, 'none', 'image/png', 10, ?)"
};
static const struct db_query Q_QUOTA = {
	"INSERT INTO account_storage (account_id, quota_bytes, quota_files) VALUES (?, ?, ?)"
};
static const struct db_query Q_IMAGE_COUNT = {
	"SELECT COUNT(*) FROM product_images WHERE product_id = ?"
};

/* POST /products/{product}/images with one part (field, declared part type). */
static long upload(const char *key, const char *product, const char *field, const char *ptype,
		   const void *data, size_t len, struct resp *r)
{
	char path[256];
	size_t n = 0;
	char *body = fx_multipart(field, "photo.jpg", ptype, data, len, &n);
	snprintf(path, sizeof path, "/products/%s/images", product);
	struct call c = { .method = "POST", .path = path, .key = key, .body = body, .body_len = n,
			  .content_type = FX_MULTIPART_TYPE };
	long status = api_call(&c, r);
	free(body);
	return status;
}

/* A new product of t: its id. */
static int mk_product(const struct tenant *t, const char *name, char id[FX_ID])
{
	char body[128];
	snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
	return fx_created(t->key, "/products", body, id);
}

/* Uploads bytes; the new image's id. */
static int mk_image(const struct tenant *t, const char *product, const void *data, size_t len,
		    char id[FX_ID])
{
	RESP(r);
	upload(t->key, product, "image", NULL, data, len, &r);
	if (!EXPECT(r, 201, NULL) || !jstr(rdata(&r), "id"))
		return -1;
	snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id"));
	return 0;
}

/* The object file of an image in the store. */
static const char *object_path(char *out, size_t size, const struct tenant *t,
			       const char *product, const char *image)
{
	snprintf(out, size, "%s/%s/images/%s/%s", cfg_str("file_store", ""), t->account, product,
		 image);
	return out;
}

/* Number of objects stored under the product's image folder (0 when there is none). */
static int objects_of(const struct tenant *t, const char *product)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "find '%s/%s/images/%s' -type f 2>/dev/null | wc -l",
		 cfg_str("file_store", ""), t->account, product);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_roundtrip(void)
{
	struct tenant t;
	char product[FX_ID], path[256], file[1400];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(mk_product(&t, "Vase", product));

	/* a PNG declared as JPEG: the type comes from the bytes */
	upload(t.key, product, "image", "image/jpeg", PNG, sizeof PNG, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	KEYS(rdata(&r), IMAGE_KEYS, &r);
	char first[FX_ID], url[256];
	snprintf(first, sizeof first, "%s", jstr(rdata(&r), "id"));
	INT_EQ(jint(rdata(&r), "sort_order"), 0, &r);
	snprintf(url, sizeof url, "/v1/products/%s/images/%s", product, first);
	STR_EQ(jstr(rdata(&r), "url"), url, &r);
	CHECK(access(object_path(file, sizeof file, &t, product, first), F_OK) == 0, &r,
	      "object stored at %s", file);

	snprintf(path, sizeof path, "/products/%s/images/%s", product, first);
	api("GET", path, t.key, NULL, &r);
	INT_EQ(r.status, 200, &r);
	STR_EQ(resp_header(&r, "Content-Type"), "image/png", &r);
	STR_EQ(resp_header(&r, "Cache-Control"), "private, max-age=86400", &r);
	CHECK(r.len == sizeof PNG && memcmp(r.body, PNG, sizeof PNG) == 0, &r,
	      "the bytes round-trip (%zu bytes back)", r.len);

	/* every accepted type, each recorded from its bytes; sort_order grows */
	const struct {
		const unsigned char *data;
		size_t len;
		const char *type;
	} more[] = { { GIF, sizeof GIF, "image/gif" }, { JPEG, sizeof JPEG, "image/jpeg" },
		     { WEBP, sizeof WEBP, "image/webp" } };
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
		upload(t.key, product, "image", "text/plain", more[i].data, more[i].len, &r);
		if (!EXPECT(r, 201, NULL))
			continue;
		INT_EQ(jint(rdata(&r), "sort_order"), (long long)i + 1, &r);
		snprintf(path, sizeof path, "/products/%s/images/%s", product, jstr(rdata(&r), "id"));
		RESP(g);
		api("GET", path, t.key, NULL, &g);
		STR_EQ(resp_header(&g, "Content-Type"), more[i].type, &g);
		CHECK(g.len == more[i].len && memcmp(g.body, more[i].data, g.len) == 0, &g,
		      "the %s bytes round-trip", more[i].type);
	}

	/* the gallery, and the product's hero and images from the same rows */
	snprintf(path, sizeof path, "/products/%s/images", product);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(json_array_size(rdata(&r)), 4, &r);
		KEYS(json_array_get(rdata(&r), 0), IMAGE_KEYS, &r);
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), first, &r);
	}
	snprintf(path, sizeof path, "/products/%s", product);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "image_url"), url, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "images")), 4, &r);
	}
}

static void test_upload_errors(void)
{
	struct tenant t;
	char product[FX_ID], path[256], count[16];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(mk_product(&t, "Lamp", product));

	/* not an image, whatever the part and the file name say */
	upload(t.key, product, "image", "image/png", "<svg></svg>", 11, &r);
	EXPECT(r, 400, "INVALID_FILE_TYPE");
	upload(t.key, product, "image", "image/png", "", 0, &r);
	EXPECT(r, 400, "INVALID_FILE_TYPE");
	/* one byte over 5 MiB (a valid PNG signature first) */
	char *big = calloc(1, IMAGE_MAX + 1);
	if (big) {
		memcpy(big, PNG, sizeof PNG);
		upload(t.key, product, "image", NULL, big, IMAGE_MAX + 1, &r);
		EXPECT(r, 413, "FILE_TOO_LARGE");
		/* exactly 5 MiB is accepted */
		upload(t.key, product, "image", NULL, big, IMAGE_MAX, &r);
		EXPECT(r, 201, NULL);
		free(big);
	}
	upload(t.key, product, "file", NULL, PNG, sizeof PNG, &r);
	if (EXPECT(r, 400, "NO_FILE"))
		CHECK(strstr(r.body, "image") != NULL, &r, "the message names the image field");
	snprintf(path, sizeof path, "/products/%s/images", product);
	struct call c = { .method = "POST", .path = path, .key = t.key, .body = (const char *)PNG,
			  .body_len = sizeof PNG, .content_type = "image/png" };
	api_call(&c, &r);
	EXPECT(r, 400, "INVALID_CONTENT_TYPE");
	upload(t.key, NO_SUCH_ID, "image", NULL, PNG, sizeof PNG, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	/* only the 5 MiB image was kept: a row and an object */
	FX(FX_TEXT(count, Q_IMAGE_COUNT, DS(product)));
	STR_EQ(count, "1", NULL);
	INT_EQ(objects_of(&t, product), 1, NULL);

	/* the cap: 19 more rows make 20 */
	for (int i = 1; i < 20; i++)
		FX(FX_SQL(Q_IMAGE_ROW, DS(t.account), DS(product), DI(i)));
	upload(t.key, product, "image", NULL, PNG, sizeof PNG, &r);
	EXPECT(r, 409, "IMAGE_CAP_REACHED");
	FX(FX_TEXT(count, Q_IMAGE_COUNT, DS(product)));
	STR_EQ(count, "20", NULL);
	INT_EQ(objects_of(&t, product), 1, NULL);
}

/* The gallery's ids in order, comma-separated, from a response's data. */
static const char *ids_of(const struct resp *r, char *out, size_t size)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(rdata(r)); i++) {
		json_t *img = json_array_get(rdata(r), i);
		at += (size_t)snprintf(out + at, size - at, "%s%s:%lld", i ? "," : "",
				       jstr(img, "id"), jint(img, "sort_order"));
		if (at >= size)
			break;
	}
	return out;
}

static void test_order_and_delete(void)
{
	struct tenant t;
	char product[FX_ID], a[FX_ID], b[FX_ID], c[FX_ID], path[256], body[512], want[512],
		got[512], file[1400], url[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(mk_product(&t, "Bowl", product));
	FX(mk_image(&t, product, PNG, sizeof PNG, a));
	FX(mk_image(&t, product, GIF, sizeof GIF, b));
	FX(mk_image(&t, product, JPEG, sizeof JPEG, c));

	snprintf(path, sizeof path, "/products/%s/images/order", product);
	snprintf(body, sizeof body, ORDER3, c, a, b);
	api("PUT", path, t.key, body, &r);
	if (EXPECT(r, 200, NULL)) {
		snprintf(want, sizeof want, "%s:0,%s:1,%s:2", c, a, b);
		STR_EQ(ids_of(&r, got, sizeof got), want, &r);
	}
	snprintf(url, sizeof url, "/products/%s", product);
	api("GET", url, t.key, NULL, &r);
	snprintf(want, sizeof want, "/v1/products/%s/images/%s", product, c);
	STR_EQ(jstr(rdata(&r), "image_url"), want, &r);

	/* not permutations: missing, duplicated, foreign, unknown; then bad shapes */
	snprintf(body, sizeof body, ORDER2, a, b);
	api("PUT", path, t.key, body, &r);
	EXPECT(r, 400, "INVALID_ORDER");
	snprintf(body, sizeof body, ORDER4, a, b, c, a);
	api("PUT", path, t.key, body, &r);
	EXPECT(r, 400, "INVALID_ORDER");
	snprintf(body, sizeof body, ORDER3, a, a, b);
	api("PUT", path, t.key, body, &r);
	EXPECT(r, 400, "INVALID_ORDER");
	snprintf(body, sizeof body, ORDER3, a, b, NO_SUCH_ID);
	api("PUT", path, t.key, body, &r);
	EXPECT(r, 400, "INVALID_ORDER");
	api("PUT", path, t.key, "{\"order\": \"abc\"}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "order") != NULL, &r, "the problem names order");
	api("PUT", path, t.key, "{\"order\": [1]}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	snprintf(body, sizeof body, "{\"order\": [%s\"x\"]}", rep(0, "\"x\",", 20)); /* 21 ids */
	api("PUT", path, t.key, body, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* the refused orders changed nothing */
	snprintf(url, sizeof url, "/products/%s/images", product);
	api("GET", url, t.key, NULL, &r);
	snprintf(want, sizeof want, "%s:0,%s:1,%s:2", c, a, b);
	STR_EQ(ids_of(&r, got, sizeof got), want, &r);

	/* delete the hero: its object goes, the next image leads */
	snprintf(path, sizeof path, "/products/%s/images/%s", product, c);
	api("DELETE", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		snprintf(want, sizeof want, "%s:1,%s:2", a, b);
		STR_EQ(ids_of(&r, got, sizeof got), want, &r);
	}
	CHECK(access(object_path(file, sizeof file, &t, product, c), F_OK) != 0, NULL,
	      "the deleted image's object is gone (%s)", file);
	INT_EQ(objects_of(&t, product), 2, NULL);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 404, "IMAGE_NOT_FOUND");
	api("DELETE", path, t.key, NULL, &r);
	EXPECT(r, 404, "IMAGE_NOT_FOUND");
	snprintf(url, sizeof url, "/products/%s", product);
	api("GET", url, t.key, NULL, &r);
	snprintf(want, sizeof want, "/v1/products/%s/images/%s", product, a);
	STR_EQ(jstr(rdata(&r), "image_url"), want, &r);

	/* a row whose object is missing answers IMAGE_NOT_FOUND on download */
	CHECK(unlink(object_path(file, sizeof file, &t, product, b)) == 0, NULL, "unlink %s",
	      file);
	snprintf(path, sizeof path, "/products/%s/images/%s", product, b);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 404, "IMAGE_NOT_FOUND");

	/* unknown product on every route */
	const char *paths[][2] = { { "GET", "/products/" NO_SUCH_ID "/images" },
				   { "GET", "/products/" NO_SUCH_ID "/images/" NO_SUCH_ID },
				   { "DELETE", "/products/" NO_SUCH_ID "/images/" NO_SUCH_ID } };
	for (size_t i = 0; i < 3; i++) {
		api(paths[i][0], paths[i][1], t.key, NULL, &r);
		EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	}
	api("PUT", "/products/" NO_SUCH_ID "/images/order", t.key, "{\"order\": []}", &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	/* an empty gallery reorders with [] */
	char empty[FX_ID];
	FX(mk_product(&t, "Empty", empty));
	snprintf(path, sizeof path, "/products/%s/images/order", empty);
	api("PUT", path, t.key, "{\"order\": []}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
}

/* Image bytes and objects count in the account's storage quota. */
static void test_quota(void)
{
	struct tenant t;
	char product[FX_ID], first[FX_ID], count[16];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(mk_product(&t, "Frame", product));
	FX(FX_SQL(Q_QUOTA, DS(t.account), DI(sizeof PNG + sizeof GIF), DI(2)));
	FX(mk_image(&t, product, PNG, sizeof PNG, first));
	upload(t.key, product, "image", NULL, JPEG, sizeof JPEG, &r); /* 22 bytes: one too many */
	if (EXPECT(r, 409, "STORAGE_QUOTA_EXCEEDED"))
		CHECK(strstr(r.body, "bytes") != NULL, &r, "the message names the byte limit");
	FX(mk_image(&t, product, GIF, sizeof GIF, first)); /* exactly the byte limit */
	upload(t.key, product, "image", NULL, GIF, sizeof GIF, &r);
	EXPECT(r, 409, "STORAGE_QUOTA_EXCEEDED");
	FX(FX_TEXT(count, Q_IMAGE_COUNT, DS(product)));
	STR_EQ(count, "2", NULL);
	INT_EQ(objects_of(&t, product), 2, NULL);
	/* a print file upload URL is refused too: the images hold the account's 2 objects */
	api("POST", "/files/upload-url", t.key, "{\"filename\": \"a.gcode\"}", &r);
	EXPECT(r, 409, "STORAGE_QUOTA_EXCEEDED");
}

static void test_scopes_and_isolation(void)
{
	struct tenant t, other;
	char product[FX_ID], image[FX_ID], rkey[FX_KEY], path[256], body[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&other, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(mk_product(&t, "Mug", product));
	FX(mk_image(&t, product, PNG, sizeof PNG, image));

	upload(rkey, product, "image", NULL, PNG, sizeof PNG, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	snprintf(path, sizeof path, "/products/%s/images/%s", product, image);
	api("DELETE", path, rkey, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("GET", path, rkey, NULL, &r);
	INT_EQ(r.status, 200, &r);
	snprintf(path, sizeof path, "/products/%s/images/order", product);
	snprintf(body, sizeof body, "{\"order\": [\"%s\"]}", image);
	api("PUT", path, rkey, body, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");

	/* the other account sees neither the product nor its image */
	upload(other.key, product, "image", NULL, PNG, sizeof PNG, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	api("PUT", path, other.key, body, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	snprintf(path, sizeof path, "/products/%s/images", product);
	api("GET", path, other.key, NULL, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	snprintf(path, sizeof path, "/products/%s/images/%s", product, image);
	api("GET", path, other.key, NULL, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	api("DELETE", path, other.key, NULL, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	/* its own product with our image id: IMAGE_NOT_FOUND */
	char theirs[FX_ID];
	FX(mk_product(&other, "Their mug", theirs));
	snprintf(path, sizeof path, "/products/%s/images/%s", theirs, image);
	api("GET", path, other.key, NULL, &r);
	EXPECT(r, 404, "IMAGE_NOT_FOUND");
	api("DELETE", path, other.key, NULL, &r);
	EXPECT(r, 404, "IMAGE_NOT_FOUND");
	snprintf(path, sizeof path, "/products/%s/images/order", theirs);
	api("PUT", path, other.key, body, &r);
	EXPECT(r, 400, "INVALID_ORDER");
	/* ours is untouched */
	snprintf(path, sizeof path, "/products/%s/images/%s", product, image);
	api("GET", path, t.key, NULL, &r);
	INT_EQ(r.status, 200, &r);
}

int suite_images(void)
{
	CU_pSuite s = CU_add_suite("product images", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_roundtrip);
	ADD_TEST(s, test_upload_errors);
	ADD_TEST(s, test_order_and_delete);
	ADD_TEST(s, test_quota);
	ADD_TEST(s, test_scopes_and_isolation);
	return 0;
}
