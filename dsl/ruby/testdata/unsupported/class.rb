# a class
class Foo
end
