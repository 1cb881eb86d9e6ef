/* cu_json: see cu_json.h. */
#include "curator/cu_json.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "curator/cu_cmd.h"

json_t *cu_json_doc(void)
{
	json_t *d = json_object();

	if (d && json_object_set_new(d, "schema_version", json_integer(CU_JSON_SCHEMA))) {
		json_decref(d);
		return NULL;
	}
	return d;
}

json_t *cu_json_time(double t)
{
	char buf[32];
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&s, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

json_t *cu_json_hex(uint64_t id)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIx64, id);
	return json_string(buf);
}

json_t *cu_json_str(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

int cu_json_print(json_t *doc, FILE *out)
{
	int rc;

	if (!doc)
		return -ENOMEM;
	rc = json_dumpf(doc, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (rc || fputc('\n', out) == EOF)
		return -EIO;
	return 0;
}

int cu_json_wanted(struct cu_ctx *ctx, int *json)
{
	const char *f = NULL;

	for (int i = 0; cu_opt_nth(ctx, "--format", i); i++)
		f = cu_opt_nth(ctx, "--format", i);
	*json = f && !strcmp(f, "json");
	if (f && !*json && strcmp(f, "text"))
		return cu_error(ctx, "--format '%s': text or json", f);
	return 0;
}
