/* apf-bench-hello - the benchmark's reference: the smallest libfcgi application, N forked
 * children answering every request with the bytes of one file (the same body the API returns),
 * so `make bench` can compare the API with the cost of FastCGI itself behind the same nginx.
 * Usage: apf-bench-hello SOCKET CHILDREN BODY_FILE */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void serve(int fd, const char *body, size_t n)
{
	FCGX_Request req;
	FCGX_InitRequest(&req, fd, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_FPrintF(req.out, "Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
			     "Content-Length: %d\r\n\r\n", (int)n);
		FCGX_PutStr(body, (int)n, req.out);
		FCGX_Finish_r(&req);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: apf-bench-hello SOCKET CHILDREN BODY_FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[3], "rb");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	static char body[1 << 20];
	size_t n = fread(body, 1, sizeof body, f);
	fclose(f);
	int nchild = atoi(argv[2]);
	if (nchild < 1 || nchild > 64)
		nchild = 4;
	if (FCGX_Init() != 0)
		return 1;
	unlink(argv[1]);
	int fd = FCGX_OpenSocket(argv[1], 1024);
	if (fd < 0)
		return 1;
	chmod(argv[1], 0666);
	pid_t kids[64];
	for (int i = 0; i < nchild; i++)
		if ((kids[i] = fork()) == 0) {
			serve(fd, body, n);
			_exit(0);
		}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigprocmask(SIG_BLOCK, &s, NULL);
	int sig;
	sigwait(&s, &sig);
	for (int i = 0; i < nchild; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0) {
	}
	unlink(argv[1]);
	return 0;
}
