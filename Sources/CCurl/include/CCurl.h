#ifndef CCURL_H
#define CCURL_H
#include <curl/curl.h>

// libcurl is loaded on first use (dlopen of libcurl.so.4), not when a program starts: every
// `spool` command starts without mapping libcurl and the ~25 libraries it needs, and only SMTP,
// S3 and HTTP(S) transfers need it installed. Each function below calls its libcurl namesake;
// when libcurl cannot be loaded they fail (NULL, or CURLE_FAILED_INIT) and
// `ccurl_load_error` says why.

/// Why libcurl could not be loaded, or NULL once it is.
const char *ccurl_load_error(void);

CURLcode ccurl_global_init(long flags);
CURL *ccurl_easy_init(void);
void ccurl_easy_cleanup(CURL *handle);
CURLcode ccurl_easy_perform(CURL *handle);
const char *ccurl_easy_strerror(CURLcode code);
struct curl_slist *ccurl_slist_append(struct curl_slist *list, const char *string);
void ccurl_slist_free_all(struct curl_slist *list);

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
// wrapper per argument type.

typedef size_t (*ccurl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode ccurl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode ccurl_setopt_callback(CURL *handle, CURLoption option, ccurl_data_callback value);
CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode ccurl_getinfo_string(CURL *handle, CURLINFO info, char **value);

#endif
