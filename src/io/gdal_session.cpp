#include "baims/core/lazy_lib.hpp"
#include "baims/core/text.hpp"
#include "baims/io/gdal.hpp"

#include <blosc.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <curl/curl.h>
#include <gdal.h>
#include <netcdf.h>
#include <proj.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace baims::io::gdal {
namespace {
void CPL_STDCALL log_handler(CPLErr level, CPLErrorNum, const char* msg) {
    if (level == CE_Debug) {
        spdlog::trace("GDAL: {}", msg);
    } else if (level == CE_Warning) {
        spdlog::debug("GDAL warning: {}", msg);
    } else {
        spdlog::debug("GDAL error: {}", msg);
    }
}

void CPL_STDCALL capture_handler(CPLErr level, CPLErrorNum, const char* msg) {
    auto* errors =
        static_cast<std::vector<std::pair<int, std::string>>*>(CPLGetErrorHandlerUserData());
    if (errors && level >= CE_Warning) {
        errors->emplace_back(static_cast<int>(level), msg ? msg : "");
    }
}

void setup() {
    if (!std::getenv("GDAL_PAM_ENABLED")) {
        CPLSetConfigOption("GDAL_PAM_ENABLED", "NO");
    }
    CPLSetErrorHandler(log_handler);
}
} // namespace

// With delay-loaded GDAL (BAIMS_LAZY_GDAL) the set-up waits for GDAL's first use: a command that
// never calls GDAL does not load it.
Session::Session() {
    lazy_lib::when_loaded(setup);
}

void register_drivers() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (GDALGetDriverCount() == 0) {
            GDALAllRegister();
        }
    });
}

Session::~Session() {
    if (lazy_lib::loaded()) {
        CPLSetErrorHandler(nullptr);
    }
}

struct ErrorScope::Impl {
    std::vector<std::pair<int, std::string>> errors;
};

ErrorScope::ErrorScope()
    : m_impl(std::make_unique<Impl>()) {
    CPLPushErrorHandlerEx(capture_handler, &m_impl->errors);
}

ErrorScope::~ErrorScope() {
    CPLPopErrorHandler();
}

bool ErrorScope::failed() const {
    for (const auto& e : m_impl->errors) {
        if (e.first >= CE_Failure) {
            return true;
        }
    }
    return false;
}

// Messages go into one error line: a driver's message that quotes a whole SQL script (GDAL's
// GPKG driver on a full disk: ~5000 characters) keeps its start and its cause.
std::string ErrorScope::last_error() const {
    for (auto it = m_impl->errors.rbegin(); it != m_impl->errors.rend(); ++it) {
        if (it->first >= CE_Failure) {
            return text::one_line(it->second);
        }
    }
    return m_impl->errors.empty() ? std::string() : text::one_line(m_impl->errors.back().second);
}

std::string ErrorScope::first_error() const {
    for (const auto& e : m_impl->errors) {
        if (e.first >= CE_Failure) {
            return text::one_line(e.second);
        }
    }
    return m_impl->errors.empty() ? std::string() : text::one_line(m_impl->errors.front().second);
}

std::string library_versions() {
    std::string s = "GDAL ";
    s += GDALVersionInfo("RELEASE_NAME");
    s += ", PROJ ";
    s += proj_info().version;
    s += ", netCDF ";
    std::string nc = nc_inq_libvers();
    s += nc.substr(0, nc.find(' '));
    s += ", c-blosc ";
    s += blosc_get_version_string();
    s += ", libcurl ";
    s += curl_version_info(CURLVERSION_NOW)->version;
    return s;
}

} // namespace baims::io::gdal
