# A one-struct schema: checks that capnp code generation works in the build.
@0xd02ec2de95165ddf;

struct Check {
  name @0 :Text;
  value @1 :UInt32;
}
