"""paas.runtime"""
