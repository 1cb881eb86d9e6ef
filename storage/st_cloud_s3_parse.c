/*
 * st_cloud_s3_parse: the S3 backend's parsers of bytes from outside
 * (st_cloud_int.h): a credentials file, the <Code> of an error body, one
 * page of a ListObjectsV2 listing.
 *
 * DESIGN. Nothing here does I/O or keeps state: each parser takes what the
 * backend read (st_cloud_s3.c) and returns what it found, never reading
 * past the bytes it was given, so each is fuzzed on its own
 * (tests/fuzz/fuzz_s3_*.c). They trust nothing: the listing is parsed by
 * expat into fixed buffers (over-long text is cut, never overflows), a
 * page that says "truncated" must name its continuation token, and the
 * bounds of a whole listing (pages, keys, time, tokens seen) are the
 * backend's and the front's, not the parser's.
 */
#include "storage/st_cloud_int.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- credentials ---------------------------------------------------------- */

static void trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	memmove(s, p, strlen(p) + 1);
}

/* One line (or a piece of one) of a credentials file. */
static void cred_line(char *line, struct st_cloud_s3_cred *cred)
{
	char *eq = strchr(line, '=');

	if (!eq || line[0] == '#')
		return;
	*eq++ = 0;
	trim(line);
	trim(eq);
	if (!strcmp(line, "access_key") || !strcmp(line, "aws_access_key_id"))
		snprintf(cred->access, sizeof(cred->access), "%s", eq);
	else if (!strcmp(line, "secret_key") || !strcmp(line, "aws_secret_access_key"))
		snprintf(cred->secret, sizeof(cred->secret), "%s", eq);
}

int st_cloud_s3_cred_parse(const char *text, size_t len, struct st_cloud_s3_cred *cred)
{
	size_t i = 0;

	memset(cred, 0, sizeof(*cred));
	while (i < len) { /* pieces as fgets() with a 600-byte buffer reads them */
		char line[600];
		size_t n = 0;
		while (i < len && n + 1 < sizeof(line)) {
			line[n] = text[i++];
			if (line[n++] == '\n')
				break;
		}
		line[n] = 0;
		cred_line(line, cred);
		memset(line, 0, sizeof(line));
	}
	return cred->access[0] && cred->secret[0] ? 0 : ST_EINVAL;
}

/* --- error bodies ---------------------------------------------------------- */

void st_cloud_s3_error_code(const char *body, char *code, size_t len)
{
	const char *a = body ? strstr(body, "<Code>") : NULL, *b = a ? strstr(a + 6, "</Code>") : NULL;

	if (a && b)
		snprintf(code, len, "%.*s", (int)(b - a - 6 < INT_MAX ? b - a - 6 : INT_MAX), a + 6);
	else
		snprintf(code, len, "%s", "");
}

/* --- the listing ------------------------------------------------------------- */

/* ListObjectsV2 response, parsed by element name (namespaces differ between servers). */
struct lst {
	char path[4][32];
	int depth;
	char text[1024];
	size_t tlen;
	char key[1024];
	uint64_t size;
	int64_t mtime;
	int truncated;
	char token[1024];
	st_cloud_list_cb cb;
	void *arg;
	int rc;
};

static const char *local_name(const char *n)
{
	const char *c = strrchr(n, ':');
	return c ? c + 1 : n;
}

static void XMLCALL x_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct lst *l = ud;

	(void)attrs;
	if (l->depth < 4)
		snprintf(l->path[l->depth], sizeof(l->path[0]), "%s", local_name(name));
	l->depth++;
	l->tlen = 0;
	l->text[0] = 0;
}

/*
 * A listing's LastModified as unix seconds. One that is missing or cannot
 * be a date reads as now: an object of unknown age is never old enough for
 * the sweep's grace period (the protective side).
 */
static int64_t iso_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return st_now();
	/* the server's numbers: a year or month out of range is no date (and must not overflow below) */
	if (tm.tm_year < 1900 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12)
		return st_now();
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void XMLCALL x_end(void *ud, const XML_Char *name)
{
	struct lst *l = ud;
	const char *n = local_name(name);
	int in_contents = l->depth >= 2 && !strcmp(l->path[1], "Contents");

	if (in_contents && !strcmp(n, "Key"))
		snprintf(l->key, sizeof(l->key), "%s", l->text);
	else if (in_contents && !strcmp(n, "Size"))
		l->size = strtoull(l->text, NULL, 10);
	else if (in_contents && !strcmp(n, "LastModified"))
		l->mtime = iso_time(l->text);
	else if (!strcmp(n, "Contents") && l->depth == 2 && !l->rc && l->key[0])
		l->rc = l->cb(l->arg, l->key, l->size, l->mtime);
	else if (!strcmp(n, "IsTruncated"))
		l->truncated = !strcmp(l->text, "true");
	else if (!strcmp(n, "NextContinuationToken"))
		snprintf(l->token, sizeof(l->token), "%s", l->text);
	if (!strcmp(n, "Contents")) {
		l->key[0] = 0;
		l->size = 0;
		l->mtime = st_now(); /* until its LastModified says otherwise (see iso_time) */
	}
	l->depth--;
	l->tlen = 0;
}

static void XMLCALL x_text(void *ud, const XML_Char *s, int len)
{
	struct lst *l = ud;

	if (len > 0 && l->tlen + (size_t)len < sizeof(l->text)) {
		memcpy(l->text + l->tlen, s, (size_t)len);
		l->tlen += (size_t)len;
		l->text[l->tlen] = 0;
	}
}

int st_cloud_s3_list_parse(const char *xml, size_t len, const char *bucket, st_cloud_list_cb cb, void *arg,
			   char *next, size_t nextlen, struct st_msg *err)
{
	struct lst l = { .cb = cb, .arg = arg, .mtime = st_now() };
	XML_Parser p = XML_ParserCreate(NULL);
	enum XML_Status xs = XML_STATUS_OK;
	int rc = 0;

	if (!p)
		return st_fail(err, -ENOMEM, "out of memory");
	XML_SetUserData(p, &l);
	XML_SetElementHandler(p, x_start, x_end);
	XML_SetCharacterDataHandler(p, x_text);
	if (!xml)
		xml = "";
	while (xs != XML_STATUS_ERROR && len > INT_MAX) { /* expat takes an int length */
		xs = XML_Parse(p, xml, INT_MAX, 0);
		xml += INT_MAX;
		len -= INT_MAX;
	}
	if (xs != XML_STATUS_ERROR)
		xs = XML_Parse(p, xml, (int)len, 1);
	if (xs == XML_STATUS_ERROR)
		rc = st_fail(err, -EIO, "s3 LIST %s: unreadable listing (%s)", bucket,
			     XML_ErrorString(XML_GetErrorCode(p)));
	XML_ParserFree(p);
	if (!rc)
		rc = l.rc;
	if (!rc && l.truncated && !l.token[0])
		rc = st_fail(err, -EIO, "s3 LIST %s: the page says it is truncated but gives no continuation token",
			     bucket);
	snprintf(next, nextlen, "%s", l.truncated ? l.token : "");
	return rc;
}
