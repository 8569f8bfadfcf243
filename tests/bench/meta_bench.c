/* apf-meta-bench - metadata extraction throughput: meta_parse_file on each file, in a loop for
 * at least SECONDS, with every plate's thumbnail extracted (what FILE_PROCESSING does). Prints
 * one line per file: "<name> <bytes> <iterations> <seconds> <MB/s>" (MB = 10^6 bytes of the
 * file's own size per second). scripts/bench.sh compares it with `bsdtar -xOf` on the same
 * archives.
 * Usage: apf-meta-bench SECONDS FILE... */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_one(const char *path, double seconds)
{
	static struct file_meta m;
	struct meta_thumbs thumbs = { .all_plates = true };
	char err[512];
	struct stat st;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "apf-meta-bench: cannot stat %s\n", path);
		return -1;
	}
	long n = 0;
	double t0 = now(), t;
	do {
		if (meta_parse_file(path, name, NULL, &m, &thumbs, err, sizeof err) < 0) {
			fprintf(stderr, "apf-meta-bench: %s: %s\n", path, err);
			return -1;
		}
		meta_thumbs_release(&thumbs);
		n++;
		t = now() - t0;
	} while (t < seconds);
	printf("%s %lld %ld %.3f %.1f\n", name, (long long)st.st_size, n, t,
	       (double)st.st_size * (double)n / t / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: apf-meta-bench SECONDS FILE...\n");
		return 2;
	}
	double seconds = strtod(argv[1], NULL);
	int rc = 0;
	for (int i = 2; i < argc; i++)
		rc |= bench_one(argv[i], seconds) < 0;
	return rc;
}
