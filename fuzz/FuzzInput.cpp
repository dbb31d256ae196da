//===- FuzzInput.cpp - Fuzz inputs as files -------------------------------===//

#include "FuzzInput.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace qopt::fuzz;

const std::string &qopt::fuzz::scratchDirectory() {
  static const std::string dir = [] {
    struct stat st;
    std::string base =
        stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/qopt-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data())) {
      perror("qopt fuzz: mkdtemp");
      abort();
    }
    return pattern;
  }();
  return dir;
}

std::string qopt::fuzz::writeInput(const std::string &name, const uint8_t *data,
                                   size_t size) {
  std::string path = scratchDirectory() + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    perror("qopt fuzz: open");
    abort();
  }
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) {
      perror("qopt fuzz: write");
      abort();
    }
    done += n;
  }
  close(fd);
  return path;
}

void qopt::fuzz::removeInput(const std::string &name) {
  std::string path = scratchDirectory() + "/" + name;
  unlink(path.c_str());
}
