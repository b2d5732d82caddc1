#include "baims_git_rev.h"
#include "common.hpp"

#include "baims/db/connection.hpp"
#include "baims/io/gdal.hpp"

namespace baims::app {

std::string version_text() {
    std::string s = "baims " BAIMS_VERSION " (git " BAIMS_GIT_REV ")\n";
    s += io::gdal::library_versions();
    s += ", " + db::library_versions();
    return s;
}

} // namespace baims::app
