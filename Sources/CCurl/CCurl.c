#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "CCurl.h"

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
} curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char error[512];
static int loaded;

#define RESOLVE(handle, field, name)                                                                   \
    if (!(*(void **)&curl.field = dlsym(handle, name))) {                                                \
        snprintf(error, sizeof error, "libcurl.so.4 has no %s (libcurl 7.x or later is needed)", name); \
        return;                                                                                          \
    }

static void load(void) {
    void *handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(error, sizeof error, "libcurl could not be loaded (%s); install it (apt install libcurl4)", dlerror());
        return;
    }
    RESOLVE(handle, global_init, "curl_global_init")
    RESOLVE(handle, easy_init, "curl_easy_init")
    RESOLVE(handle, easy_cleanup, "curl_easy_cleanup")
    RESOLVE(handle, easy_perform, "curl_easy_perform")
    RESOLVE(handle, easy_strerror, "curl_easy_strerror")
    RESOLVE(handle, slist_append, "curl_slist_append")
    RESOLVE(handle, slist_free_all, "curl_slist_free_all")
    RESOLVE(handle, easy_setopt, "curl_easy_setopt")
    RESOLVE(handle, easy_getinfo, "curl_easy_getinfo")
    loaded = 1;
}

static int ready(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *ccurl_load_error(void) { return ready() ? NULL : error; }

CURLcode ccurl_global_init(long flags) { return ready() ? curl.global_init(flags) : CURLE_FAILED_INIT; }

CURL *ccurl_easy_init(void) { return ready() ? curl.easy_init() : NULL; }

void ccurl_easy_cleanup(CURL *handle) {
    if (ready()) curl.easy_cleanup(handle);
}

CURLcode ccurl_easy_perform(CURL *handle) { return ready() ? curl.easy_perform(handle) : CURLE_FAILED_INIT; }

const char *ccurl_easy_strerror(CURLcode code) {
    return ready() ? curl.easy_strerror(code) : "libcurl is not loaded";
}

struct curl_slist *ccurl_slist_append(struct curl_slist *list, const char *string) {
    return ready() ? curl.slist_append(list, string) : NULL;
}

void ccurl_slist_free_all(struct curl_slist *list) {
    if (ready()) curl.slist_free_all(list);
}

CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_setopt_callback(CURL *handle, CURLoption option, ccurl_data_callback value) {
    return ready() ? curl.easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return ready() ? curl.easy_getinfo(handle, info, value) : CURLE_FAILED_INIT;
}

CURLcode ccurl_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return ready() ? curl.easy_getinfo(handle, info, value) : CURLE_FAILED_INIT;
}
