/* Benchmark client: send a tar file to a guest agent's extract_archive
 * through core/agentclient (streamed from the file, as the host does) and
 * print the answer. Usage: agent_upload SOCKET TAR DESTINATION */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/agentclient.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: agent_upload SOCKET TAR DESTINATION\n");
		return 2;
	}
	int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	struct agent_target t = { .uds_path = argv[1], .timeout_ms = 600000 };
	struct json_doc *doc = json_doc_new();
	struct json_value *resp;
	struct pyro_err err;
	struct buf out = BUF_INIT;
	int rc = agentclient_extract_archive(&t, doc, fd, (uint64_t)st.st_size, argv[3], &resp, &err);
	if (rc == 0 && json_emit(&out, resp, 0) == 0)
		printf("%s\n", out.data);
	else if (rc < 0)
		fprintf(stderr, "agent_upload: %s\n", err.msg);
	buf_release(&out);
	json_doc_free(doc);
	close(fd);
	return rc < 0 ? 1 : 0;
}
