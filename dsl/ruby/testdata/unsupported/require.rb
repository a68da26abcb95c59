require 'json'
hosts %w(a)
