// SPDX-License-Identifier: GPL-2.0
#include "server/daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace lkd::daemon {
namespace {

using ::testing::HasSubstr;

// The status's message, for EXPECT_THAT(..., HasSubstr(...)).
std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Expects InvalidArgument whose message names every one of `names`.
void ExpectInvalid(const absl::Status& status, std::initializer_list<std::string> names) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& name : names) EXPECT_THAT(Message(status), HasSubstr(name));
}

LkdConfig Parse(const std::string& text) {
  absl::StatusOr<LkdConfig> config = ParseConfigText(text, "test.conf");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : LkdConfig();
}

absl::Status ValidateText(const std::string& text) { return Validate(Parse(text)); }

TEST(ConfigFileTest, ExampleLoadsAndValidates) {
  absl::StatusOr<LkdConfig> config = LoadConfigFile("server/daemon/lkd.conf.example");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
  EXPECT_EQ(config->listen(), kDefaultListen);
  EXPECT_EQ(config->mem(), "256M");
  ASSERT_EQ(config->nic_size(), 1);
  EXPECT_EQ(config->nic(0).address_size(), 2);
  EXPECT_EQ(config->disk_size(), 2);
  EXPECT_TRUE(config->disk(1).read_only());
  EXPECT_EQ(config->route_size(), 3);
  EXPECT_EQ(config->route(2).table(), 100u);
  EXPECT_EQ(config->sysctl_size(), 2);
}

TEST(ConfigFileTest, MissingFileNamesThePath) {
  absl::StatusOr<LkdConfig> config = LoadConfigFile("/nonexistent/lkd.conf");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound) << config.status();
  EXPECT_THAT(Message(config.status()), HasSubstr("/nonexistent/lkd.conf"));
}

TEST(ConfigFileTest, SyntaxErrorsGiveSourceLineAndColumn) {
  absl::StatusOr<LkdConfig> config = ParseConfigText("mem: \"64M\"\nmem 64M\n", "my.conf");
  ExpectInvalid(config.status(), {"my.conf:2:5:"});
  config = ParseConfigText("nic {\n  backend: \"tap:a\"\n  adress: \"10.0.0.1/8\"\n}\n", "my.conf");
  ExpectInvalid(config.status(), {"my.conf:3:", "adress"});
  config = ParseConfigText("disk { read_only: maybe }", "my.conf");
  ExpectInvalid(config.status(), {"my.conf:1:", "maybe"});
}

TEST(ConfigFileTest, DefaultsFillOnlyEmptyFields) {
  LkdConfig config;
  ApplyDefaults(&config);
  EXPECT_EQ(config.listen(), "unix:///run/lkd/lkd.sock");
  EXPECT_EQ(config.mem(), "256M");
  config = Parse("listen: \"unix:///tmp/x.sock\" mem: \"1G\"");
  ApplyDefaults(&config);
  EXPECT_EQ(config.listen(), "unix:///tmp/x.sock");
  EXPECT_EQ(config.mem(), "1G");
  EXPECT_TRUE(Validate(LkdConfig()).ok()) << "an empty config means the defaults";
}

TEST(NicFlagTest, AddressesAreSplitOffTheBackend) {
  LkdConfig config;
  ASSERT_TRUE(AddNicFlag("tap:lkd0,mac=02:00:00:00:00:01,addr=10.0.2.2/24,mtu=9000,"
                         "addr=fd00:2::2/64",
                         &config)
                  .ok());
  ASSERT_TRUE(AddNicFlag("wire:/tmp/w.sock", &config).ok());
  ASSERT_EQ(config.nic_size(), 2);
  EXPECT_EQ(config.nic(0).backend(), "tap:lkd0,mac=02:00:00:00:00:01,mtu=9000");
  ASSERT_EQ(config.nic(0).address_size(), 2);
  EXPECT_EQ(config.nic(0).address(0), "10.0.2.2/24");
  EXPECT_EQ(config.nic(0).address(1), "fd00:2::2/64");
  EXPECT_EQ(config.nic(1).backend(), "wire:/tmp/w.sock");
  EXPECT_EQ(config.nic(1).address_size(), 0);
  EXPECT_TRUE(Validate(config).ok()) << Validate(config);
}

TEST(NicFlagTest, BadSpecsNameTheBadPart) {
  LkdConfig config;
  ExpectInvalid(AddNicFlag("tap:lkd0,addr=10.0.2.300/24", &config), {"10.0.2.300/24"});
  ExpectInvalid(AddNicFlag("tap:lkd0,addr=10.0.2.2/33", &config), {"10.0.2.2/33", "prefix"});
  ExpectInvalid(AddNicFlag("tap:lkd0,addr=fd00::1/129", &config), {"fd00::1/129"});
  ExpectInvalid(AddNicFlag("tap:lkd0,mtu=10", &config), {"tap:lkd0,mtu=10", "mtu"});
  ExpectInvalid(AddNicFlag("tap:lkd0,mac=01:00:00:00:00:01", &config), {"01:00:00:00:00:01"});
  ExpectInvalid(AddNicFlag("eth:lkd0", &config), {"eth"});
  ExpectInvalid(AddNicFlag("tap:lkd0,speed=10G", &config), {"speed"});
  ExpectInvalid(AddNicFlag("tap:,addr=10.0.0.1/8", &config), {"interface name"});
  EXPECT_EQ(config.nic_size(), 0) << "a bad flag adds nothing";
}

TEST(DiskFlagTest, GoodSpecs) {
  LkdConfig config;
  ASSERT_TRUE(AddDiskFlag("/srv/data.img,ext4,/data", &config).ok());
  ASSERT_TRUE(AddDiskFlag("/srv/boot.img,vfat,/boot,ro", &config).ok());
  ASSERT_TRUE(AddDiskFlag("/srv/x.img,ext4,/x,rw", &config).ok());
  ASSERT_EQ(config.disk_size(), 3);
  EXPECT_EQ(config.disk(0).image(), "/srv/data.img");
  EXPECT_EQ(config.disk(0).fstype(), "ext4");
  EXPECT_EQ(config.disk(0).mountpoint(), "/data");
  EXPECT_FALSE(config.disk(0).read_only());
  EXPECT_TRUE(config.disk(1).read_only());
  EXPECT_FALSE(config.disk(2).read_only());
}

TEST(DiskFlagTest, BadSpecsNameTheBadPart) {
  LkdConfig config;
  ExpectInvalid(AddDiskFlag("/srv/data.img,ext4", &config), {"/srv/data.img,ext4", "MOUNTPOINT"});
  ExpectInvalid(AddDiskFlag("/srv/data.img,ext4,data", &config), {"'data'", "absolute"});
  ExpectInvalid(AddDiskFlag("/srv/data.img,ext4,/data,rx", &config), {"'rx'"});
  ExpectInvalid(AddDiskFlag("/srv/data.img,,/data", &config), {"file system type"});
  ExpectInvalid(AddDiskFlag(",ext4,/data", &config), {"image"});
  ExpectInvalid(AddDiskFlag("a,ext4,/data,ro,extra", &config), {"extra"});
  EXPECT_EQ(config.disk_size(), 0);
}

TEST(RouteFlagTest, GoodSpecs) {
  LkdConfig config;
  ASSERT_TRUE(AddRouteFlag("default,via=10.0.2.1", &config).ok());
  ASSERT_TRUE(AddRouteFlag("10.1.0.0/16,dev=eth0,table=100", &config).ok());
  ASSERT_TRUE(AddRouteFlag("fd00:1::/48,via=fd00:2::1,dev=eth0", &config).ok());
  ASSERT_TRUE(AddRouteFlag("default,via=fd00:2::1", &config).ok());
  ASSERT_EQ(config.route_size(), 4);
  EXPECT_EQ(config.route(0).dest(), "default");
  EXPECT_EQ(config.route(0).via(), "10.0.2.1");
  EXPECT_EQ(config.route(1).dev(), "eth0");
  EXPECT_EQ(config.route(1).table(), 100u);
  EXPECT_EQ(config.route(2).dest(), "fd00:1::/48");
  EXPECT_TRUE(Validate(config).ok()) << Validate(config);
}

TEST(RouteFlagTest, BadSpecsNameTheBadPart) {
  LkdConfig config;
  ExpectInvalid(AddRouteFlag("default", &config), {"'default'", "via", "dev"});
  ExpectInvalid(AddRouteFlag("10.1.2.0/16,dev=eth0", &config), {"10.1.2.0/16", "prefix length"});
  ExpectInvalid(AddRouteFlag("10.1.0.0/40,dev=eth0", &config), {"10.1.0.0/40"});
  ExpectInvalid(AddRouteFlag("default,via=gateway", &config), {"'gateway'"});
  ExpectInvalid(AddRouteFlag("10.0.0.0/8,via=fd00::1", &config), {"fd00::1", "family"});
  ExpectInvalid(AddRouteFlag("default,gw=10.0.0.1", &config), {"'gw'"});
  ExpectInvalid(AddRouteFlag("default,dev=eth0,table=main", &config), {"'main'"});
  ExpectInvalid(AddRouteFlag("default,dev=a/b", &config), {"'a/b'"});
  ExpectInvalid(AddRouteFlag(",dev=eth0", &config), {"destination"});
  EXPECT_EQ(config.route_size(), 0);
}

TEST(SysctlFlagTest, GoodAndBad) {
  LkdConfig config;
  ASSERT_TRUE(AddSysctlFlag("net.ipv4.ip_forward=1", &config).ok());
  ASSERT_TRUE(AddSysctlFlag("net.ipv4.tcp_rmem=4096 87380 6291456", &config).ok());
  ASSERT_EQ(config.sysctl_size(), 2);
  EXPECT_EQ(config.sysctl(0).name(), "net.ipv4.ip_forward");
  EXPECT_EQ(config.sysctl(0).value(), "1");
  EXPECT_EQ(config.sysctl(1).value(), "4096 87380 6291456");
  ExpectInvalid(AddSysctlFlag("net.ipv4.ip_forward", &config),
                {"net.ipv4.ip_forward", "NAME=VALUE"});
  ExpectInvalid(AddSysctlFlag("=1", &config), {"'=1'", "no name"});
  ExpectInvalid(AddSysctlFlag("net.ipv4.ip_forward=", &config), {"no value"});
  ExpectInvalid(AddSysctlFlag("net ipv4=1", &config), {"'net ipv4'"});
  EXPECT_EQ(config.sysctl_size(), 2);
}

TEST(ValidateTest, Listen) {
  EXPECT_TRUE(ValidateText("listen: \"unix:///var/run/lkd.sock\"").ok());
  ExpectInvalid(ValidateText("listen: \"tcp://0.0.0.0:7000\""), {"tcp://0.0.0.0:7000", "unix://"});
  ExpectInvalid(ValidateText("listen: \"unix://lkd.sock\""), {"unix://lkd.sock", "absolute"});
  ExpectInvalid(ValidateText("listen: \"/run/lkd.sock\""), {"/run/lkd.sock"});
  ExpectInvalid(ValidateText("listen: \"unix:///" + std::string(120, 'x') + "\""), {"longer"});
  EXPECT_EQ(*UnixListenPath(""), "/run/lkd/lkd.sock");
  EXPECT_EQ(*UnixListenPath("unix:///tmp/a.sock"), "/tmp/a.sock");
}

TEST(ValidateTest, AdminListenIsTcpWithMutualTlsOnly) {
  const std::string tls =
      "admin_tls_cert: \"/etc/lkd/lkd.crt\" admin_tls_key: \"/etc/lkd/lkd.key\" "
      "admin_tls_client_ca: \"/etc/lkd/clients.crt\" ";
  EXPECT_TRUE(ValidateText(tls + "admin_listen: \"tcp://10.0.0.1:7443\"").ok());
  EXPECT_TRUE(ValidateText(tls + "admin_listen: \"tcp://[::]:7443\"").ok());
  EXPECT_TRUE(ValidateText("").ok()) << "no TCP by default";
  // Plain TCP cannot be configured: every TLS file is required.
  ExpectInvalid(ValidateText("admin_listen: \"tcp://0.0.0.0:7443\""),
                {"admin_listen 'tcp://0.0.0.0:7443'", "mutual TLS only", "admin_tls_client_ca"});
  ExpectInvalid(ValidateText("admin_tls_cert: \"/a\" admin_tls_key: \"/b\" "
                             "admin_listen: \"tcp://0.0.0.0:7443\""),
                {"mutual TLS only"});
  ExpectInvalid(ValidateText(tls), {"without admin_listen"});
  ExpectInvalid(ValidateText(tls + "admin_listen: \"0.0.0.0:7443\""), {"want tcp://ADDR:PORT"});
  ExpectInvalid(ValidateText(tls + "admin_listen: \"tcp://0.0.0.0\""), {"port"});
  ExpectInvalid(ValidateText(tls + "admin_listen: \"tcp://h:70000\""), {"port"});
  ExpectInvalid(ValidateText(tls + "admin_listen: \"tcp://::1:7443\""), {"brackets"});
  ExpectInvalid(ValidateText(tls + "admin_socket: \"none\" admin_listen: \"tcp://h:1\""),
                {"admin_socket 'none'"});
  EXPECT_EQ(*TcpListenAddress("tcp://[::1]:7443"), "[::1]:7443");
  EXPECT_TRUE(ValidateText("admin_subscriber_queue: 16").ok());
  ExpectInvalid(ValidateText("admin_subscriber_queue: 15"), {"admin_subscriber_queue 15", "16"});
  EXPECT_EQ(*TcpListenAddress("tcp://lkd.example:7443"), "lkd.example:7443");
}

TEST(ValidateTest, Mem) {
  EXPECT_EQ(*ParseMemSize("256M"), 256ull << 20);
  EXPECT_EQ(*ParseMemSize("1g"), 1ull << 30);
  EXPECT_EQ(*ParseMemSize("65536k"), 64ull << 20);
  EXPECT_EQ(*ParseMemSize("16777216"), 16ull << 20);
  for (const char* bad :
       {"", "M", "256MB", "-1M", "25 6M", "0x100M", "1T", "99999999999999G", "999999999999G"})
    ExpectInvalid(ParseMemSize(bad).status(), {std::string("'") + bad + "'"});
  ExpectInvalid(ValidateText("mem: \"8M\""), {"'8M'", "16M"});
  ExpectInvalid(ValidateText("mem: \"lots\""), {"'lots'"});
  EXPECT_TRUE(ValidateText("mem: \"16M\"").ok());
}

TEST(ValidateTest, Nics) {
  ExpectInvalid(ValidateText("nic { }"), {"nic 0", "backend"});
  ExpectInvalid(ValidateText("nic { backend: \"tap:a\" } nic { backend: \"tap:b,mtu=1\" }"),
                {"nic 1 (tap:b,mtu=1)", "mtu"});
  ExpectInvalid(ValidateText("nic { backend: \"tap:a\" address: \"10.0.0.1/8\" address: \"x/8\" }"),
                {"nic 0 (tap:a)", "'x/8'"});
  ExpectInvalid(ValidateText("nic { backend: \"tap:a,mac=02:00:00:00:00:07\" }"
                             "nic { backend: \"tap:b,mac=02:00:00:00:00:07\" }"),
                {"nic 1 (tap:b", "02:00:00:00:00:07"});
  EXPECT_TRUE(
      ValidateText("nic { backend: \"tap:a\" address: \"10.0.0.1\" address: \"fd00::1\" }").ok())
      << "an address without a length is a host address";
}

TEST(ValidateTest, Disks) {
  auto disk = [](const std::string& image, const std::string& fstype, const std::string& mnt) {
    return "disk { image: \"" + image + "\" fstype: \"" + fstype + "\" mountpoint: \"" + mnt +
           "\" } ";
  };
  EXPECT_TRUE(ValidateText(disk("/a.img", "ext4", "/data") + disk("/b.img", "vfat", "/data/b") +
                           disk("/c.img", "ext4", "/tmp/c"))
                  .ok());
  ExpectInvalid(ValidateText(disk("", "ext4", "/data")), {"disk 0", "image"});
  ExpectInvalid(ValidateText(disk("/a.img", "", "/data")), {"disk 0 (/a.img)", "fstype"});
  for (const char* bad : {"data", "", "/", "/data/", "/a//b", "/a/../b", "/a/./b"})
    ExpectInvalid(ValidateText(disk("/a.img", "ext4", bad)),
                  {"disk 0 (/a.img)", std::string("mountpoint '") + bad + "'"});
  for (const char* own : {"/proc", "/sys/x", "/dev"})
    ExpectInvalid(ValidateText(disk("/a.img", "ext4", own)), {own, "daemon mounts"});
  EXPECT_TRUE(ValidateText(disk("/a.img", "ext4", "/device")).ok());
  ExpectInvalid(ValidateText(disk("/a.img", "ext4", "/data") + disk("/b.img", "ext4", "/data")),
                {"disk 0 (/a.img)", "also disk 1"});
  ExpectInvalid(ValidateText(disk("/a.img", "ext4", "/data/a") + disk("/b.img", "ext4", "/data")),
                {"disk 0 (/a.img)", "'/data/a' is below disk 1"});
}

TEST(ValidateTest, RoutesSysctlsAndCmdline) {
  ExpectInvalid(ValidateText("route { dest: \"default\" }"), {"route 0 (default)", "via"});
  ExpectInvalid(ValidateText("route { dest: \"10.1.0.0/16\" via: \"10.0.0.1\" table: 7 }"
                             "route { dest: \"10.1.0.1/16\" dev: \"eth0\" }"),
                {"route 1 (10.1.0.1/16 dev eth0)", "prefix length"});
  ExpectInvalid(ValidateText("sysctl { name: \"net.core.somaxconn\" }"),
                {"sysctl 0 (net.core.somaxconn)", "no value"});
  ExpectInvalid(ValidateText("sysctl { value: \"1\" }"), {"sysctl 0", "no name"});
  EXPECT_TRUE(ValidateText("cmdline: \"loglevel=7 panic=1\"").ok());
  ExpectInvalid(ValidateText("cmdline: \"loglevel=7 mem=1G\""), {"cmdline", "mem="});
}

}  // namespace
}  // namespace lkd::daemon
